// node-gyp-build ships no types.
declare module 'node-gyp-build' {
  /** Finds and requires the addon for this platform under `dir` (build/Release, build/Debug, prebuilds/). */
  function load(dir: string): unknown;
  namespace load {
    /** The path load() would require; throws when nothing matches. */
    function resolve(dir?: string): string;
  }
  export = load;
}
