/**
 * Whether a process with this pid exists (signal 0 checks without sending anything). Used to
 * tell files left by a platform process that died from those of one still running.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
