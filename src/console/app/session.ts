/** What the server told the page at start (GET /console/session), for any component that needs it. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ConsoleSessionInfo } from './api.js';

export const SessionContext = createContext<ConsoleSessionInfo | null>(null);

export const useSession = () => useContext(SessionContext);

/** The batch's workflow in the Temporal Web UI, when the server knows where the Web UI is. */
export function workflowLink(info: ConsoleSessionInfo | null, workflowId: string | null): string | null {
  if (!info?.temporal_ui_url || !workflowId) return null;
  return `${info.temporal_ui_url}/namespaces/${encodeURIComponent(info.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
