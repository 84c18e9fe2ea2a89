// The one CPU-bound kernel every library runs (scenario 3), so all run identical code.
export function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
