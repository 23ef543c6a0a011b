import { SluiceError } from '../pipeline/errors.js'

/** The admin HTTP API could not be served (its port is taken, its host is not an address of this machine). */
export class AdminError extends SluiceError {}
