/**
 * Headers the front end adds for the instance. Clients cannot forge them: the front end strips
 * every incoming `X-Hangar-*` header first (S5 step 5).
 */
export const InternalHeader = {
  requestId: 'x-hangar-request-id',
  handler: 'x-hangar-handler',
  remoteAddr: 'x-hangar-remote-addr',
  https: 'x-hangar-https',
  /** Epoch milliseconds at which the request's deadline passes (S6); absent: no deadline. */
  deadline: 'x-hangar-deadline',
} as const;
