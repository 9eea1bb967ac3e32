// Log level names <-> FFmpeg's AV_LOG_* numbers.

export type LogLevel = 'quiet' | 'error' | 'warning' | 'info' | 'verbose' | 'debug';

/** AV_LOG_* values (libavutil/log.h). */
export const LOG_LEVELS: Readonly<Record<LogLevel, number>> = Object.freeze({
  quiet: -8, // AV_LOG_QUIET
  error: 16, // AV_LOG_ERROR (AV_LOG_PANIC 0 and AV_LOG_FATAL 8 are reported as 'error' too)
  warning: 24, // AV_LOG_WARNING
  info: 32, // AV_LOG_INFO
  verbose: 40, // AV_LOG_VERBOSE
  debug: 48, // AV_LOG_DEBUG (AV_LOG_TRACE 56 is reported as 'debug' too)
});

export const LOG_LEVEL_NAMES: readonly LogLevel[] = Object.freeze(Object.keys(LOG_LEVELS) as LogLevel[]);

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(LOG_LEVELS, value);
}

export function logLevelToNumber(level: LogLevel): number {
  return LOG_LEVELS[level];
}

/** The name of an AV_LOG_* number; a value between two levels gets the name of the next level up (AV_LOG_FATAL 8 -> 'error', AV_LOG_TRACE 56 -> 'debug'). */
export function logLevelFromNumber(level: number): Exclude<LogLevel, 'quiet'> {
  if (level <= LOG_LEVELS.error) return 'error';
  if (level <= LOG_LEVELS.warning) return 'warning';
  if (level <= LOG_LEVELS.info) return 'info';
  if (level <= LOG_LEVELS.verbose) return 'verbose';
  return 'debug';
}

/** What a 'log' event carries. */
export interface LogEvent {
  level: Exclude<LogLevel, 'quiet'>;
  /** The AV_LOG_* number FFmpeg used. */
  avLevel: number;
  /** The line without its trailing newline. */
  message: string;
}
