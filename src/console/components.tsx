/**
 * Small pieces every page uses: the error box (API errors are shown, never swallowed), the
 * two-step confirm button (stop, delete), the usage bar (memory, quotas) and the table wrapper
 * that scrolls on its own on a narrow screen.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** An error from the API, announced to screen readers. */
export function ErrorBox({ error, prefix }: { error: string | undefined; prefix?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {error}
    </p>
  );
}

/** A table in a container that scrolls sideways (the page itself never does). */
export function TableScroll({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard to scroll it
    <section class="table-scroll" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

/**
 * A bar of `value` against `max`, with the figure beside it; an accessible meter.
 *
 * @example <UsageBar value={64 << 20} max={256 << 20} text="64 MiB / 256 MiB" label="memory" />
 */
export function UsageBar({
  value,
  max,
  text,
  label,
}: {
  value: number;
  max: number;
  text: string;
  label: string;
}) {
  // The browser colours a meter by these: green below 70 %, amber to 90 %, red above.
  return (
    <span class="usage">
      <meter
        class="bar"
        min={0}
        max={max}
        value={Math.min(value, max)}
        low={max * 0.7}
        high={max * 0.9}
        optimum={0}
        aria-label={label}
        aria-valuetext={text}
      />
      <span class="usage-text">{text}</span>
    </span>
  );
}

/**
 * An action that asks first: the button, then in its place "confirm" and "cancel" (focus moves to
 * the confirm button; Escape or cancel goes back). `onConfirm`'s error is shown beside it.
 */
export function ConfirmButton(props: {
  label: string;
  confirmLabel: string;
  /** The first button's class (e.g. `stop-instance`). */
  className: string;
  /** The confirm button's class (e.g. `confirm-stop`). */
  confirmClassName: string;
  /** What the action is on, for screen readers ("stop instance abc"). */
  subject: string;
  disabled?: boolean;
  onConfirm: () => Promise<void>;
}) {
  const [step, setStep] = useState<'idle' | 'confirm' | 'busy'>('idle');
  const [error, setError] = useState<string>();
  const confirmRef = useRef<HTMLButtonElement>(null);
  const firstRef = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);

  useEffect(() => {
    if (step === 'confirm') {
      confirmRef.current?.focus();
      wasConfirming.current = true;
    } else if (step === 'idle' && wasConfirming.current) {
      wasConfirming.current = false;
      firstRef.current?.focus();
    }
  }, [step]);

  const confirm = () => {
    setStep('busy');
    setError(undefined);
    props.onConfirm().then(
      () => setStep('idle'),
      (err: Error) => {
        setError(err.message);
        setStep('idle');
      },
    );
  };

  return (
    <span class="confirm-action">
      {step === 'idle' ? (
        <button
          ref={firstRef}
          type="button"
          class={props.className}
          disabled={props.disabled}
          aria-label={`${props.label} ${props.subject}`}
          onClick={() => setStep('confirm')}
        >
          {props.label}
        </button>
      ) : (
        <>
          <button
            ref={confirmRef}
            type="button"
            class={`${props.confirmClassName} danger`}
            disabled={step === 'busy'}
            aria-label={`${props.confirmLabel} ${props.subject}`}
            onClick={confirm}
            onKeyDown={(e) => {
              if (e.key === 'Escape') setStep('idle');
            }}
          >
            {step === 'busy' ? '…' : props.confirmLabel}
          </button>
          <button
            type="button"
            class="cancel"
            disabled={step === 'busy'}
            onClick={() => setStep('idle')}
            onKeyDown={(e) => {
              if (e.key === 'Escape') setStep('idle');
            }}
          >
            Cancel
          </button>
        </>
      )}
      {error ? (
        <span class="action-error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}
