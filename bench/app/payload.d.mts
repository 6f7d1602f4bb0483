export declare const hello: string;
export declare const logLines: number;
export declare const json: string;
export declare function logLine(i: number, id: string): string;
