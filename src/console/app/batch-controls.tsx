/** Start, pause, resume and cancel for one batch: a button for each action the API offers it, through the API's routes. */
import { post, type ApiBatch } from './api.js';
import { ActionButton } from './components.js';

const LABELS = { start: 'Start now', pause: 'Pause', resume: 'Resume', cancel: 'Cancel' } as const;
const HELP = {
  start: 'Move this batch to the head of the queue',
  pause: 'Stop taking new profiles; results so far are kept',
  resume: 'Put this batch back in the queue; only unfinished profiles are checked',
  cancel: 'Stop this batch for good',
} as const;

export function BatchControls({ batch, done }: { batch: Pick<ApiBatch, 'id' | 'name' | 'actions'>; done: () => void }) {
  return (
    <div class="actions">
      {batch.actions.map((action) => (
        <ActionButton
          key={action}
          label={LABELS[action]}
          title={HELP[action]}
          variant={action === 'cancel' ? 'danger' : action === 'pause' ? 'plain' : 'primary'}
          confirm={action === 'cancel' ? `Cancel batch "${batch.name}"? A cancelled batch cannot be resumed.` : undefined}
          success={`Batch "${batch.name}": ${action} accepted.`}
          run={() => post(`/batches/${encodeURIComponent(batch.id)}/${action}`)}
          done={done}
        />
      ))}
    </div>
  );
}
