/**
 * What can be done to one webhook endpoint, on the list and on its own page: send a ping, enable or disable it,
 * rotate its secret (the new one is handed to `onSecret`, to be shown once) and delete it.
 */
import { del, patch, post, type ApiWebhook, type ApiWebhookWithSecret } from './api.js';
import { ActionButton } from './components.js';
import type { RevealedSecret } from './secret-reveal.js';

export function WebhookActions(props: { webhook: ApiWebhook; done: () => void; onSecret: (revealed: RevealedSecret) => void; onDeleted?: () => void }) {
  const { webhook: w, done } = props;
  const path = `/webhooks/${encodeURIComponent(w.id)}`;
  const rotate = async () => {
    const rotated = await post<ApiWebhookWithSecret>(`${path}/rotate-secret`);
    props.onSecret({ url: rotated.url, secret: rotated.secret, reason: 'rotated' });
  };
  return (
    <div class="actions">
      <ActionButton label="Test" title="Send a ping; it shows in the deliveries" success={`A ping to ${w.url} is on its way.`} run={() => post(`${path}/test`)} done={done} />
      {w.enabled ? (
        <ActionButton label="Disable" success={`${w.url} disabled: nothing more is sent to it.`} run={() => patch(path, { enabled: false })} done={done} />
      ) : (
        <ActionButton label="Enable" variant="primary" success={`${w.url} enabled.`} run={() => patch(path, { enabled: true })} done={done} />
      )}
      <ActionButton
        label="Rotate secret"
        confirm={`Make a new signing secret for ${w.url}? The current one keeps signing beside it for a while.`}
        run={rotate}
        done={done}
      />
      <ActionButton
        label="Delete"
        variant="danger"
        confirm={`Delete the webhook to ${w.url}? Its deliveries go with it.`}
        success={`Webhook to ${w.url} deleted.`}
        run={async () => {
          await del(path);
          props.onDeleted?.();
        }}
        done={done}
      />
    </div>
  );
}

/** An endpoint's state in words: enabled, failing since when, or disabled and why. */
export const DISABLED_BECAUSE: Record<string, string> = {
  operator: 'by an operator',
  gone: 'the receiver answered 410 Gone',
  failing: 'failing for too long',
};
