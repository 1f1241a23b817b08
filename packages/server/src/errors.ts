import { SdError } from '@sd-webgpu/tensor';

/**
 * A request the API refuses before any work is queued. `status` is the HTTP status (422 for a bad field, as
 * A1111's FastAPI validation does; 400, 401, 404, 405, 413 for the rest); `field` names the A1111 request field.
 */
export class RequestError extends SdError {
  readonly status: number;
  readonly field: string | null;
  constructor(status: number, field: string | null, detail: string) {
    super('request', field ? `${field}: ${detail}` : detail);
    this.status = status;
    this.field = field;
  }
}

/** A job whose data does not describe a valid generation (a worker refuses it without retrying). */
export class JobDataError extends SdError {
  readonly field: string;
  constructor(field: string, detail: string) {
    super('job_data', `job field '${field}' ${detail}`);
    this.field = field;
  }
}
