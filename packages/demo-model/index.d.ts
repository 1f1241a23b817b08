/** The demo model's diffusers folder (ends with '/'): a file: URL in Node. */
export declare const demoModelUrl: URL;
/** The folder's files, relative to demoModelUrl. */
export declare const demoModelFiles: readonly string[];
