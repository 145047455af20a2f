/** The pieces every page is built from. */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useState } from 'preact/hooks';
import { describeError, type ApiBatch } from './api.js';
import { count, percent } from './format.js';

export function Link(props: { to: string; children: ComponentChildren; class?: string }) {
  return (
    <a href={`#${props.to}`} class={props.class}>
      {props.children}
    </a>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status.replace(/_/g, ' ')}</span>;
}

/** Completed of total as a bar; the numbers use tabular figures, so they change without moving anything. */
export function ProgressBar({ batch }: { batch: Pick<ApiBatch, 'completed_profiles' | 'total_profiles' | 'completion_rate'> }) {
  return (
    <div class="progress">
      <div
        class="progress-track"
        role="progressbar"
        aria-label="Profiles completed"
        aria-valuemin={0}
        aria-valuemax={batch.total_profiles}
        aria-valuenow={batch.completed_profiles}
      >
        <div class="progress-fill" style={{ width: `${Math.min(100, batch.completion_rate * 100)}%` }} />
      </div>
      <span class="progress-text num">
        {count(batch.completed_profiles)} / {count(batch.total_profiles)} · {percent(batch.completion_rate)}
      </span>
    </div>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="note note-error" role="alert">
      {describeError(error)}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>;
}

interface Notice {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

const NoticeContext = createContext<(kind: Notice['kind'], text: string) => void>(() => {});

/** Page-level messages (an action's outcome), announced to screen readers, gone after a while. */
export function NoticeProvider({ children }: { children: ComponentChildren }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const notify = useCallback((kind: Notice['kind'], text: string) => {
    const id = Date.now() + Math.random();
    setNotices((list) => [...list.slice(-3), { id, kind, text }]);
    setTimeout(() => setNotices((list) => list.filter((n) => n.id !== id)), kind === 'error' ? 12_000 : 5_000);
  }, []);
  return (
    <NoticeContext.Provider value={notify}>
      {children}
      <div class="notices" aria-live="polite">
        {notices.map((n) => (
          <p key={n.id} class={`note note-${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
            {n.text}
          </p>
        ))}
      </div>
    </NoticeContext.Provider>
  );
}

export const useNotify = () => useContext(NoticeContext);

/**
 * A button that runs an API call: disabled while it runs, the outcome as a notice, and `done` afterwards (to
 * reload what changed). An optional confirmation guards what cannot be undone.
 */
export function ActionButton(props: {
  label: string;
  run: () => Promise<unknown>;
  done?: () => void;
  success?: string;
  confirm?: string;
  variant?: 'primary' | 'danger' | 'plain';
  title?: string;
}) {
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const onClick = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setBusy(true);
    try {
      await props.run();
      if (props.success) notify('ok', props.success);
    } catch (err) {
      notify('error', describeError(err));
    } finally {
      setBusy(false);
      props.done?.();
    }
  };
  return (
    <button type="button" class={`btn btn-${props.variant ?? 'plain'}`} disabled={busy} aria-busy={busy} onClick={onClick} title={props.title}>
      {props.label}
    </button>
  );
}

/** A labelled form field with the API's complaint about it, if any. */
export function Field(props: { label: string; id: string; error?: string; hint?: string; children: ComponentChildren }) {
  const described = [props.error ? `${props.id}-error` : '', props.hint ? `${props.id}-hint` : ''].filter(Boolean).join(' ');
  return (
    <div class={`field${props.error ? ' field-invalid' : ''}`} data-described={described || undefined}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small id={`${props.id}-hint`} class="muted">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${props.id}-error`} class="field-error" role="alert">
          {props.error}
        </small>
      )}
    </div>
  );
}

/** Cursor paging: the cursors of the pages before this one, so Previous goes back without the API's help. */
export function usePager(resetKey: string) {
  const [state, setState] = useState<{ key: string; cursors: Array<string | null> }>({ key: resetKey, cursors: [null] });
  const cursors = state.key === resetKey ? state.cursors : [null];
  return {
    cursor: cursors[cursors.length - 1] ?? null,
    page: cursors.length,
    next: (cursor: string) => setState({ key: resetKey, cursors: [...cursors, cursor] }),
    previous: () => setState({ key: resetKey, cursors: cursors.length > 1 ? cursors.slice(0, -1) : cursors }),
  };
}

export function Pager(props: { pager: ReturnType<typeof usePager>; nextCursor: string | null | undefined }) {
  const { pager, nextCursor } = props;
  if (pager.page === 1 && !nextCursor) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="btn btn-plain" disabled={pager.page === 1} onClick={pager.previous}>
        Previous
      </button>
      <span class="muted num">Page {pager.page}</span>
      <button type="button" class="btn btn-plain" disabled={!nextCursor} onClick={() => nextCursor && pager.next(nextCursor)}>
        Next
      </button>
    </nav>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted empty">{children}</p>;
}

/** A table that scrolls sideways on a narrow screen instead of squeezing its columns. */
export function Table({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>{children}</table>
    </div>
  );
}

export function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd class="num">{value}</dd>
    </div>
  );
}
