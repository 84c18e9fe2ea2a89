import { availableParallelism } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';

/**
 * Options shared by the commands, so that one idea has one name everywhere,
 * the name of the Pool option it sets: `--size` (workers of a pool),
 * `--concurrency-per-worker` (calls one worker runs at once). A budget of
 * calls for a whole pool or host is `--in-flight`. Old names keep working.
 */

/** Parses a whole number ≥ min; a bad value is a usage error naming the option. */
export function integer(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got '${value}'`);
    return n;
  };
}

/** The workers of a pool: Pool's `size`. */
export function sizeOption(description: string): Option {
  return new Option('--size <n>', description).argParser(integer(1)).default(availableParallelism(), 'the number of cores');
}

/**
 * Keeps a renamed flag working: the old name is hidden from --help, takes its
 * value as the new one would (giving both is a usage error), and says on
 * stderr, once, which name to use now.
 */
export function keepOldName(command: Command, oldFlag: string, current: Option): void {
  const old = new Option(`${oldFlag} <n>`).hideHelp().conflicts(current.attributeName());
  if (current.parseArg) old.argParser(current.parseArg);
  command.addOption(old);
  command.hook('preAction', (cmd) => {
    if (cmd.getOptionValueSource(old.attributeName()) !== 'cli') return;
    process.stderr.write(`tandem ${cmd.name()}: ${oldFlag} is deprecated; use ${current.long} (it means the same)\n`);
    cmd.setOptionValueWithSource(current.attributeName(), cmd.getOptionValue(old.attributeName()), 'cli');
  });
}
