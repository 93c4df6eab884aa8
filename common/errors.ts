/**
 * The base of every error the project's own code throws: a stable `code` from a closed set (each
 * module family declares its union and documents what each code means), the side that caused it,
 * and the underlying `cause`. Callers decide by code, never by parsing messages.
 */
export type ErrorSource = 'edge' | 'origin' | 'internal';

export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  readonly source: ErrorSource;

  constructor(code: C, message: string, options: { source: ErrorSource; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CodedError';
    this.code = code;
    this.source = options.source;
  }
}

/** A configuration that cannot work (a flag, a file, a kubeconfig): one line for the operator, exit 2. */
export type ConfigErrorCode = 'CONFIG_INVALID' | 'KUBECONFIG_INVALID';

export class ConfigError extends CodedError<ConfigErrorCode> {
  constructor(code: ConfigErrorCode, message: string, cause?: unknown) {
    super(code, message, { source: 'internal', cause });
    this.name = 'ConfigError';
  }
}
