import type { ChangeEvent } from '../pipeline/event.js'
import type { EventMapper } from '../pipeline/transform.js'
import type { Transform } from './transform.js'

/** Applies transforms in configuration order; an event dropped by one never reaches the next. */
export class TransformChain implements EventMapper {
  constructor(private readonly steps: readonly Transform[]) {}

  map(events: readonly ChangeEvent[]): readonly ChangeEvent[] {
    const out: ChangeEvent[] = []
    next: for (const original of events) {
      let ev = original
      for (const step of this.steps) {
        const r = step.apply(ev)
        if (r === null) continue next
        ev = r
      }
      out.push(ev)
    }
    return out
  }
}
