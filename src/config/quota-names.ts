/**
 * The S10 daily counters, in the platform's order. Its own module, with no imports, so that the
 * console (bundled for the browser) lists the same names the platform config and the meter use.
 */
export const DAILY_QUOTA_NAMES = [
  'requests',
  'secure_requests',
  'incoming_bytes',
  'outgoing_bytes',
  'secure_incoming_bytes',
  'secure_outgoing_bytes',
  'socket_bytes',
  'urlfetch_calls',
  'urlfetch_bytes',
  'instance_hours',
] as const;
