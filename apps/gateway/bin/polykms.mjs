#!/usr/bin/env node
// Installed entry point: loads the TypeScript CLI through tsx's loader in this same process (no build
// step, and signals such as SIGTERM reach the gateway directly).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
