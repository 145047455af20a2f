/**
 * The two success bodies of docs/upstream.md as zod schemas. Strict where it matters to the result (ids are digit
 * strings, times are whole unix seconds, `status` is "ok"), tolerant of extra fields the source may add.
 *
 * The stories body is checked in two layers: the envelope (`reels` is an object) and then each reel on its
 * own, so that one corrupt reel fails only its profile and the other 49 answers in the request still count.
 */
import { z } from 'zod';

const digits = z.string().regex(/^\d+$/, 'must be a digit string');
const unixSeconds = z.number().int().nonnegative();

export const webProfileInfoSchema = z.object({
  status: z.literal('ok'),
  data: z.object({
    user: z
      .object({
        id: digits,
        username: z.string().min(1),
        is_private: z.boolean(),
      })
      .nullable(),
  }),
});
export type WebProfileInfo = z.infer<typeof webProfileInfoSchema>;

export const storyItemSchema = z.object({
  // Item ids are opaque; some answers carry them as numbers.
  pk: z.union([z.string().min(1), z.number().int()]),
  taken_at: unixSeconds,
  expiring_at: unixSeconds,
  // 1 image, 2 video; other kinds (carousels, new ones) are kept as unknown rather than refused
  media_type: z.number().int().optional(),
});

export const reelSchema = z.object({
  id: digits,
  latest_reel_media: unixSeconds,
  items: z.array(storyItemSchema),
});
export type Reel = z.infer<typeof reelSchema>;

export const reelsMediaEnvelopeSchema = z.object({
  status: z.literal('ok'),
  reels: z.record(z.string(), z.unknown()),
});

/** A reel keyed by a user id must be that user's reel. */
export function parseReel(userId: string, value: unknown): { ok: true; reel: Reel } | { ok: false; problem: string } {
  const parsed = reelSchema.safeParse(value);
  if (!parsed.success) return { ok: false, problem: describeIssues(parsed.error) };
  if (parsed.data.id !== userId) return { ok: false, problem: `reel id ${parsed.data.id} under key ${userId}` };
  return { ok: true, reel: parsed.data };
}

/** A short, value-free description of what did not match (paths and expectations only). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}
