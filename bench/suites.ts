import type { DialectSuite } from './dialect.ts';
import type { Row } from './harness.ts';
import { ovhSuite } from './ovh.ts';
import { huaweiSuite } from './huawei.ts';
import { cseSuite } from './cse.ts';
import { benchCore } from './core.ts';
import { benchScale } from './scale.ts';
import { benchWorkers } from './workers.ts';

/** The dialects' suites: a gateway listener, its reference servers and load generator, compared row by row. */
export const DIALECTS: Record<string, DialectSuite> = { ovh: ovhSuite, huawei: huaweiSuite, cse: cseSuite };

/** Suites that run in one process without HTTP (core next to raw node:crypto, the store at scale). */
export const IN_PROCESS: Record<string, (o: { ms: number; concurrency: number }) => Promise<Row[]>> = {
  core: benchCore,
  scale: benchScale,
};

/** Suites that start the real gateway and measure it unpinned (`serve --workers`). */
export const WHOLE: Record<
  string,
  (o: { ms: number; concurrency: number; rate?: number | undefined; machine?: number[] | undefined }) => Promise<Row[]>
> = {
  workers: benchWorkers,
};

export const SUITE_NAMES = ['core', 'ovh', 'huawei', 'cse', 'scale', 'workers'];
