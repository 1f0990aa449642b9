export declare function backgroundNice(env?: Record<string, string | undefined>): number;
export declare function lowerThisThread(): boolean;
export declare function favourEventLoop(): Promise<number>;
