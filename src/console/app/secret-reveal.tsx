/**
 * A webhook's signing secret, shown once (the API never returns it again): the secret, a button that copies it,
 * and a button that dismisses it once it is stored. When the browser refuses the clipboard, the secret is
 * selected so that the person can copy it by hand.
 */
import { useRef, useState } from 'preact/hooks';

export interface RevealedSecret {
  /** What the secret signs for: the webhook's URL. */
  url: string;
  secret: string;
  /** Why it is shown: a new webhook, or a rotation (the previous one keeps signing for a while). */
  reason: 'created' | 'rotated';
}

export function SecretReveal({ revealed, onDone }: { revealed: RevealedSecret; onDone: () => void }) {
  const [copied, setCopied] = useState<'no' | 'yes' | 'by-hand'>('no');
  const code = useRef<HTMLElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(revealed.secret);
      setCopied('yes');
    } catch {
      // no clipboard access (an insecure origin, a refused permission): select it for a manual copy
      const range = document.createRange();
      if (code.current) range.selectNodeContents(code.current);
      window.getSelection()?.removeAllRanges();
      window.getSelection()?.addRange(range);
      setCopied('by-hand');
    }
  };
  return (
    <div class="card secret" role="region" aria-label="Signing secret">
      <h2>Signing secret for {revealed.url}</h2>
      <p>
        This is the only time it is shown: store it in the receiver now.
        {revealed.reason === 'rotated' && ' The previous secret keeps signing beside it for a while, so the receiver can switch without losing a delivery.'}
      </p>
      <code ref={code} data-secret>
        {revealed.secret}
      </code>
      <div class="actions">
        <button type="button" class="btn btn-primary" onClick={copy}>
          {copied === 'yes' ? 'Copied' : 'Copy secret'}
        </button>
        <button type="button" class="btn btn-plain" onClick={onDone}>
          I have stored it
        </button>
        <span role="status" class="muted">
          {copied === 'yes' ? 'The secret is in the clipboard.' : copied === 'by-hand' ? 'The browser refused the clipboard: the secret is selected, copy it with Ctrl+C.' : ''}
        </span>
      </div>
    </div>
  );
}
