// Types for what the tests import from receivers.mjs.
/** The rtmp module Debian installs, or undefined. */
export function nginxRtmpModule(): string | undefined;
