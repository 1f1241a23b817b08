/** The repository root. */
export declare const root: string;
/** Bundles a TypeScript entry point for Node (see bundle-ts.mjs). */
export declare function bundleTs(entry: string, outfile: string): Promise<void>;
