// host-sim/src/errors.ts
// Errors that mean "the user asked for something unusable": the CLI prints them on one line and exits 2.
// Kept free of heavy imports so the CLI can classify errors without loading the kubeconfig library.

/** A bad flag, file or combination of them. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A kubeconfig or credential override that cannot be used. */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}
