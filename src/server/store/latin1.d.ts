// Node's Buffer has had these since v0.x (the fast paths behind
// toString('latin1') and write(..., 'latin1')); @types/node does not list
// them. The item table calls them directly: they skip the encoding switch.
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string
    latin1Write(text: string, offset: number, length: number): number
  }
}
export {}
