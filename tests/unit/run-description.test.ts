/** The texts a batch run shows in the Temporal Web UI (workflows/run-description.ts). */
import { describe, expect, it } from 'vitest';
import { batchStaticDetails, batchSummary, chunkSummary, currentDetails, inlineText, thousands } from '../../workflows/run-description.js';

const batchId = '0d9c51e2-7f1a-4c3b-9a8e-5b6c7d8e9f01';

describe('batch summary', () => {
  it('quotes the name and groups the profile count in thousands', () => {
    expect(batchSummary({ batchId, name: 'Spring creators', totalProfiles: 1_200 })).toBe('Batch "Spring creators" · 1,200 profiles');
    expect(batchSummary({ batchId, name: 'All', totalProfiles: 1_234_567 })).toBe('Batch "All" · 1,234,567 profiles');
  });

  it('says "profile" for one', () => {
    expect(batchSummary({ batchId, name: 'Solo', totalProfiles: 1 })).toBe('Batch "Solo" · 1 profile');
    expect(batchSummary({ batchId, name: 'Empty', totalProfiles: 0 })).toBe('Batch "Empty" · 0 profiles');
  });

  it('names an unnamed or blank-named batch by the start of its id', () => {
    expect(batchSummary({ batchId, name: null, totalProfiles: 20 })).toBe('Batch 0d9c51e2 · 20 profiles');
    expect(batchSummary({ batchId, name: ' \n ', totalProfiles: 20 })).toBe('Batch 0d9c51e2 · 20 profiles');
  });

  it('keeps a name on one line, its quotes and markdown escaped, and cuts a long one', () => {
    expect(batchSummary({ batchId, name: 'The "best"\n  *creators*', totalProfiles: 2 })).toBe(
      'Batch "The \\"best\\" \\*creators\\*" · 2 profiles',
    );
    const summary = batchSummary({ batchId, name: 'x'.repeat(200), totalProfiles: 2 });
    expect(summary).toBe(`Batch "${'x'.repeat(79)}…" · 2 profiles`);
  });
});

describe('static details', () => {
  it('give the batch id, the run number and how the run sends', () => {
    expect(batchStaticDetails({ batchId, name: 'x', totalProfiles: 1_200, run: 1, chunkSize: 50, concurrency: 4 })).toBe(
      ['**Batch** `0d9c51e2-7f1a-4c3b-9a8e-5b6c7d8e9f01`', '**Run** 1', '**Profiles** 1,200, 50 profiles per request, up to 4 requests at once'].join('\n\n'),
    );
    expect(batchStaticDetails({ batchId, name: 'x', totalProfiles: 1, run: 3, chunkSize: 1, concurrency: 1 })).toContain(
      '**Run** 3 (started again after a pause or a restart)\n\n**Profiles** 1, 1 profile per request, up to 1 request at once',
    );
  });
});

describe('chunk summary', () => {
  it('gives the size and the first and last usernames', () => {
    expect(chunkSummary({ profiles: 50, firstUsername: 'alice', lastUsername: 'zoe' })).toBe('50 profiles: @alice … @zoe');
  });

  it('names one profile once', () => {
    expect(chunkSummary({ profiles: 1, firstUsername: 'alice', lastUsername: 'alice' })).toBe('1 profile: @alice');
  });

  it('is the size alone for a chunk paged without usernames', () => {
    expect(chunkSummary({ profiles: 50 })).toBe('50 profiles');
    expect(chunkSummary({ profiles: 1 })).toBe('1 profile');
  });

  it('leaves an underscore inside a username as it is, and escapes one that could format', () => {
    expect(chunkSummary({ profiles: 2, firstUsername: 'some_user', lastUsername: '_edge_' })).toBe('2 profiles: @some_user … @\\_edge\\_');
  });
});

describe('current details', () => {
  const label = { batchId, name: 'Spring creators', totalProfiles: 1_200 };

  it('lead with the batch, then state and progress, counts and chunks in flight', () => {
    expect(currentDetails({ label, state: 'running', successful: 580, failed: 20, storiesFound: 31, chunksInFlight: 2 })).toBe(
      [
        'Batch "Spring creators" · 1,200 profiles',
        '**Running** · 600 / 1,200 checked (50%)',
        '580 successful · 20 failed · 31 stories found · 2 chunks in flight',
      ].join('\n\n'),
    );
  });

  it('say why a stalled batch sends nothing, in words', () => {
    const stalled = (stalledReason: 'no_usable_proxy' | 'upstream_unreachable' | 'no_valid_session' | 'queue_held') =>
      currentDetails({ label, state: stalledReason === 'queue_held' ? 'queue held' : 'running', successful: 1, failed: 0, storiesFound: 1, chunksInFlight: 1, stalledReason }).split('\n\n');
    expect(stalled('no_usable_proxy')).toEqual([
      'Batch "Spring creators" · 1,200 profiles',
      '**Running** · 1 / 1,200 checked (0%)',
      '1 successful · 0 failed · 1 story found · 1 chunk in flight',
      '**Stalled:** no usable proxy (every proxy is disabled or resting)',
    ]);
    expect(stalled('upstream_unreachable').at(-1)).toBe('**Stalled:** the story source is unreachable through every proxy');
    expect(stalled('no_valid_session').at(-1)).toBe('**Stalled:** no valid session for the story source');
    expect(stalled('queue_held').slice(1, 2)).toEqual(['**Queue held** · 1 / 1,200 checked (0%)']);
    expect(stalled('queue_held').at(-1)).toBe('**Stalled:** the queue is paused');
  });

  it('show 100% only when every profile is checked, and a total read from the batch over the label', () => {
    const almost = currentDetails({ label, state: 'stopping', successful: 1_199, failed: 0, storiesFound: 0, chunksInFlight: 1 });
    expect(almost).toContain('**Stopping** · 1,199 / 1,200 checked (99%)');
    const done = currentDetails({ state: 'done', totalProfiles: 1_200, successful: 1_150, failed: 50, storiesFound: 0, chunksInFlight: 0 });
    expect(done).toBe(['**Done** · 1,200 / 1,200 checked (100%)', '1,150 successful · 50 failed · 0 stories found · 0 chunks in flight'].join('\n\n'));
  });

  it('without a label or a total, give what this run counted', () => {
    expect(currentDetails({ state: 'paused', successful: 7, failed: 0, storiesFound: 2, chunksInFlight: 0 })).toBe(
      ['**Paused** · 7 checked', '7 successful · 0 failed · 2 stories found · 0 chunks in flight'].join('\n\n'),
    );
  });
});

describe('text helpers', () => {
  it('group thousands without the locale', () => {
    expect([0, 999, 1_000, 12_345, 1_000_000].map(thousands)).toEqual(['0', '999', '1,000', '12,345', '1,000,000']);
  });

  it('escape what markdown would format or link', () => {
    expect(inlineText('[a](b) `c` <d> #e |f| ~g~ \\h')).toBe('\\[a\\](b) \\`c\\` \\<d\\> \\#e \\|f\\| \\~g\\~ \\\\h');
  });
});
