/**
 * Snapshot modes as small decision objects (Debezium's Snapshotter questions): given
 * whether a stored position exists and whether the snapshot finished, should the source
 * snapshot, and should it stream afterwards?
 */
export interface SnapshotMode {
  readonly name: 'initial' | 'never' | 'initial_only'
  /** Run (or re-run from the start) the snapshot? */
  shouldSnapshot(hasPosition: boolean, snapshotCompleted: boolean): boolean
  /** Stream changes after the snapshot (or right away)? */
  shouldStream(): boolean
}

/** Snapshot existing rows once, then stream. An unfinished snapshot restarts cleanly. */
export const initial: SnapshotMode = {
  name: 'initial',
  shouldSnapshot: (hasPosition, completed) => !hasPosition || !completed,
  shouldStream: () => true,
}

/** Stream only: changes from the moment the slot is created. */
export const never: SnapshotMode = {
  name: 'never',
  shouldSnapshot: () => false,
  shouldStream: () => true,
}

/** Snapshot existing rows, then stop. */
export const initialOnly: SnapshotMode = {
  name: 'initial_only',
  shouldSnapshot: (hasPosition, completed) => !hasPosition || !completed,
  shouldStream: () => false,
}

/** The mode object for a config value. */
export function snapshotMode(name: 'initial' | 'never' | 'initial_only'): SnapshotMode {
  return name === 'initial' ? initial : name === 'never' ? never : initialOnly
}
