import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes operators filter on in the Web UI: `BatchId = "<uuid>"`, `BatchStatus = "running"`. */
export const BatchIdAttribute = defineSearchAttributeKey('BatchId', SearchAttributeType.KEYWORD);
export const BatchStatusAttribute = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
export const searchAttributeKeys = [BatchIdAttribute, BatchStatusAttribute];
