/**
 * Counts event-loop turns while `work` runs: a setImmediate chain that re-arms itself until the work settles. Work
 * that never yields the loop leaves the count near 0; work done in slices lets it grow with the slices.
 */
export async function loopTurnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await work();
    return { result, turns };
  } finally {
    running = false;
  }
}
