/**
 * The exact JSON a delivery sends, in the Standard Webhooks shape `{type, timestamp, data}`. It is made once,
 * when the delivery is dispatched, and stored (webhook_deliveries.body), so every attempt and every redelivery
 * sends the same bytes under the same signature input.
 *
 * `data` is the payload the outbox trigger wrote with the event, plus the event's `seq` (story_events.seq or
 * batch_logs.seq), which is drawn when the event's transaction commits and so can only be read afterwards. A
 * ping has no seq. `timestamp` is when the event happened (its occurred_at), or when the ping was asked for.
 */
import type { WebhookDeliveryEventType } from '../enums.js';

export interface DeliveryBodySource {
  event_type: WebhookDeliveryEventType;
  /** The payload as the outbox row holds it. */
  payload: Record<string, unknown>;
  created_at: Date;
}

/** The ISO time of the event a delivery announces. */
export function deliveryTimestamp(source: DeliveryBodySource): string {
  const occurred = source.event_type === 'ping' ? null : source.payload.occurred_at;
  const when = typeof occurred === 'string' || occurred instanceof Date ? new Date(occurred) : source.created_at;
  return (Number.isNaN(when.getTime()) ? source.created_at : when).toISOString();
}

/** The body of a delivery, given its event's seq (null for a ping, whose data is its payload alone). */
export function deliveryBody(source: DeliveryBodySource, seq: number | null): string {
  const data = seq === null ? source.payload : { ...source.payload, seq };
  return JSON.stringify({ type: source.event_type, timestamp: deliveryTimestamp(source), data });
}
