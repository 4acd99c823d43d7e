#!/usr/bin/env node
// The bundled server: one file with no dependencies beyond Node itself.
await import('../dist/repcached.mjs')
