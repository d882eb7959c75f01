import { ConfigError } from '#libs/config';

/**
 * Runs a process's start function and stops it cleanly on SIGTERM/SIGINT.
 * A configuration error ends the process at once with a message naming the
 * variable; any other start-up failure is printed and exits 1.
 */
export async function runMain(name: string, start: () => Promise<() => Promise<void>>): Promise<void> {
  let stop: () => Promise<void>;
  try {
    stop = await start();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : `${name} failed to start: ${(error as Error).stack ?? error}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${name}: ${signal} received, shutting down`);
    stop().then(
      () => process.exit(0),
      (error) => {
        console.error(`${name}: unclean shutdown: ${(error as Error).stack ?? error}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
