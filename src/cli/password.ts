import { createInterface } from 'node:readline';

/** Read all of stdin and return its first line (for `echo pw | l2tpsec users add NAME`). */
async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Ask on the terminal without echo. */
function ask(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let prompted = false;
    out._writeToOutput = (s: string) => {
      if (!prompted) {
        process.stderr.write(s);
        prompted = true;
      }
    };
    rl.question(prompt, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/**
 * A new password: from stdin when it is not a terminal, else asked twice.
 * Refuses an empty password.
 */
export async function readPassword(prompt: string): Promise<string> {
  let pw: string;
  if (!process.stdin.isTTY) {
    pw = await readStdinLine();
  } else {
    pw = await ask(prompt);
    const again = await ask('Again: ');
    if (pw !== again) throw new Error('the two passwords differ');
  }
  if (pw.length === 0) throw new Error('empty password');
  if (pw.length > 256) throw new Error('password longer than 256 characters (MS-CHAPv2 limit)');
  return pw;
}
