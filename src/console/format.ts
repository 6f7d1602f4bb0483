/**
 * How the console writes numbers, sizes, durations and times: short, with units, the same on
 * every page.
 */

/**
 * Bytes in binary units.
 *
 * @example
 * formatBytes(1536) // '1.5 KiB'
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const sign = bytes < 0 ? '-' : '';
  return unit === 0
    ? `${sign}${value} B`
    : `${sign}${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * Milliseconds as a short duration.
 *
 * @example
 * formatMs(0.42) // '0.42 ms'
 * formatMs(83_000) // '1 min 23 s'
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return formatCountdown(ms);
}

/**
 * A countdown or age, minutes and seconds.
 *
 * @example
 * formatCountdown(599_400) // '9 min 59 s'
 */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

/** A count with thousands separators; fractions to at most two decimals. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

/** A share 0..1 as a percentage. */
export function formatPercent(share: number): string {
  if (!Number.isFinite(share)) return '—';
  const pct = share * 100;
  return `${pct >= 10 || pct === 0 ? Math.round(pct) : pct.toFixed(1)} %`;
}

/** An ISO time as the local time of day (with the date when it is not today). */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  const today = new Date().toDateString() === date.toDateString();
  return today ? time : `${date.toLocaleDateString()} ${time}`;
}

/** `app/service/version` of anything that has the three. */
export function versionLabel(v: {
  app?: string | null;
  service?: string | null;
  version?: string | null;
}): string {
  return `${v.app ?? '?'}/${v.service ?? '?'}/${v.version ?? '?'}`;
}
