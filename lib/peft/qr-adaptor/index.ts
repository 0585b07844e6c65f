/**
 * QR-Adaptor (arXiv 2505.03802): per-layer bit-width and LoRA-rank search under a memory budget.
 *
 *   memory.ts      the search space (layers, choices, ladders) and the memory model in bytes
 *   warm-start.ts  phase I: importances → warm start → greedy repair into the budget
 *   nsga2.ts       a generic NSGA-II (non-dominated sorting, crowding, tournament, elitist survivors)
 *   search.ts      phases II–III: the NSGA-II search on (−performance, memory) and the chosen configuration
 *
 * The model enters only through the caller's measurements: layer sizes, importances and `evaluate`.
 */
export * from "./memory";
export * from "./warm-start";
export * from "./nsga2";
export * from "./search";
