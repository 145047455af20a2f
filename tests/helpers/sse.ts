/** One Server-Sent Event as a test reads it off the wire. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Takes every complete event off the front of `buffer` (events end with a blank line); returns them and what
 * is left. Comment blocks (keep-alives) carry no data and are dropped.
 */
export function takeSseEvents(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = buffer;
  let end: number;
  while ((end = rest.indexOf('\n\n')) >= 0) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    const event: SseEvent = { event: 'message', data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event.event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else if (line.startsWith('id: ')) event.id = line.slice(4);
    }
    if (data.length === 0) continue;
    event.data = data.join('\n');
    events.push(event);
  }
  return { events, rest };
}
