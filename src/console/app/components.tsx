/** The pieces every page is built from. */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useState } from 'preact/hooks';
import { ApiError, describeError, type ApiBatch, type Page } from './api.js';
import { ago, count, percent, stallText } from './format.js';
import type { Loaded } from './live.js';

export function Link(props: { to: string; children: ComponentChildren; class?: string }) {
  return (
    <a href={`#${props.to}`} class={props.class}>
      {props.children}
    </a>
  );
}

/** A batch's name, linking to its page. */
export function BatchLink({ batch }: { batch: Pick<ApiBatch, 'id' | 'name'> }) {
  return <Link to={`/batches/${batch.id}`}>{batch.name}</Link>;
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

/** Why a running batch has stalled, since when, and what to do about it; nothing while work flows. */
export function StallNote({ batch }: { batch: Pick<ApiBatch, 'stalled_reason' | 'stalled_since'> }) {
  const stall = stallText(batch);
  if (!stall) return null;
  return (
    <p class="note note-warn stall" role="status">
      <strong>Stalled{batch.stalled_since ? ` since ${ago(batch.stalled_since)}` : ''}.</strong> {stall}
    </p>
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

/** The API's complaints about a form, by field (`''`: about the form as a whole, or a failure that is not one). */
export function errorsByField(err: unknown): Map<string, string> {
  if (err instanceof ApiError && err.status === 400) {
    const issues = err.fieldIssues();
    return issues.size > 0 ? issues : new Map([['', err.message]]);
  }
  return new Map([['', describeError(err)]]);
}

/**
 * A form's submission: `run` is called on submit, the form is busy meanwhile, and a failure becomes `errors`,
 * by field. `describe` may word a failure its own way (return undefined for the usual wording).
 */
export function useSubmit(run: () => Promise<void>, describe?: (err: unknown) => string | undefined) {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Map<string, string>>(new Map());
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors(new Map());
    try {
      await run();
    } catch (err) {
      const own = describe?.(err);
      setErrors(own === undefined ? errorsByField(err) : new Map([['', own]]));
    } finally {
      setBusy(false);
    }
  };
  const error = (field: string): string | undefined => errors.get(field);
  /** The complaints about none of `fields` (the form's own): shown with its main field, so none is lost. */
  const other = (fields: string[]): string | undefined =>
    [...errors]
      .filter(([field]) => !fields.includes(field))
      .map(([field, message]) => (field ? `${field}: ${message}` : message))
      .join(' ') || undefined;
  return { busy, submit, error, other };
}

export function SubmitButton({ busy, label, busyLabel }: { busy: boolean; label: string; busyLabel?: string }) {
  return (
    <div class="actions">
      <button type="submit" class="btn btn-primary" disabled={busy} aria-busy={busy}>
        {busy && busyLabel ? busyLabel : label}
      </button>
    </div>
  );
}

/**
 * A loaded page of items: the error, "Loading…", the empty message, or the items as `children` renders them;
 * then the pager, if the list is paged.
 */
export function ListView<T>(props: {
  list: Loaded<Page<T>>;
  what: string;
  empty: ComponentChildren;
  pager?: ReturnType<typeof usePager>;
  children: (items: T[]) => ComponentChildren;
}) {
  const { list } = props;
  return (
    <>
      <ErrorNote error={list.error} />
      {!list.data && !list.error && <Loading what={props.what} />}
      {list.data && list.data.items.length === 0 && <Empty>{props.empty}</Empty>}
      {list.data && list.data.items.length > 0 && props.children(list.data.items)}
      {props.pager && <Pager pager={props.pager} nextCursor={list.data?.next_cursor} />}
    </>
  );
}

/** Column headings, each as is or with a class of its own (`num`, `wide`). */
export type Columns = ReadonlyArray<string | readonly [heading: string, cls: string]>;

/** A table of `items` under the `columns` headings, one row (a `<tr>`) each as `row` renders it. */
export function DataTable<T>(props: { label: string; columns: Columns; items: readonly T[]; row: (item: T) => ComponentChildren }) {
  return (
    <Table label={props.label}>
      <thead>
        <tr>
          {props.columns.map((column) => {
            const [heading, cls] = typeof column === 'string' ? [column, undefined] : column;
            return (
              <th key={heading} class={cls}>
                {heading}
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>{props.items.map(props.row)}</tbody>
    </Table>
  );
}

/** A loaded page of items as a table (see ListView and DataTable): what every list page shows. */
export function ListTable<T>(props: {
  list: Loaded<Page<T>>;
  what: string;
  empty: ComponentChildren;
  pager?: ReturnType<typeof usePager>;
  label: string;
  columns: Columns;
  row: (item: T) => ComponentChildren;
}) {
  return (
    <ListView list={props.list} pager={props.pager} what={props.what} empty={props.empty}>
      {(items) => <DataTable label={props.label} columns={props.columns} items={items} row={props.row} />}
    </ListView>
  );
}

/**
 * A page with a heading, its main content, and a form beside it (below it on a narrow screen); `after` comes
 * below both, at full width.
 */
export function SplitPage(props: { title: string; aside: ComponentChildren; after?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section>
      <header class="page-head">
        <h1>{props.title}</h1>
      </header>
      <div class="split">
        <div>{props.children}</div>
        {props.aside}
      </div>
      {props.after}
    </section>
  );
}

/** Values of a select, each as is or with a label of its own. */
export type Options = ReadonlyArray<string | readonly [value: string, label: string]>;

/** A labelled select whose first choice, `none` (the empty value), means no choice: "Any", "No niche"… */
export function SelectField(props: {
  label: string;
  id: string;
  value: string;
  onChange: (value: string) => void;
  none: string;
  options: Options;
  error?: string;
  name?: string;
}) {
  return (
    <Field label={props.label} id={props.id} error={props.error}>
      <select id={props.id} name={props.name} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{props.none}</option>
        {props.options.map((o) => {
          const [value, label] = typeof o === 'string' ? [o, o] : o;
          return (
            <option key={value} value={value}>
              {label}
            </option>
          );
        })}
      </select>
    </Field>
  );
}

/** One choice among a few, as radio buttons: each option's value and its label. */
export function Choices<T extends string>(props: { legend: string; name: string; value: T; onChange: (value: T) => void; options: Record<T, string> }) {
  return (
    <fieldset class="choices">
      <legend>{props.legend}</legend>
      {(Object.keys(props.options) as T[]).map((value) => (
        <label key={value} class="choice">
          <input type="radio" name={props.name} value={value} checked={props.value === value} onChange={() => props.onChange(value)} />
          {props.options[value]}
        </label>
      ))}
    </fieldset>
  );
}

/** A field for a whole number, kept as typed (the API says what is wrong with it). */
export function WholeNumberField(props: {
  label: string;
  id: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  min?: number;
  error?: string;
  hint: string;
}) {
  return (
    <Field label={props.label} id={props.id} error={props.error} hint={props.hint}>
      <input
        id={props.id}
        name={props.name}
        type="number"
        min={props.min}
        step={1}
        value={props.value}
        onInput={(e) => props.onChange(e.currentTarget.value)}
        aria-invalid={props.error ? true : undefined}
      />
    </Field>
  );
}
