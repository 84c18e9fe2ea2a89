// Worker file for piscina and tinypool: default export = trivial task, named exports by { name }.
import { fib as fibKernel } from '../fib.mjs';

export default function noop(x) {
  return x;
}
export function fib(n) {
  return fibKernel(n);
}
