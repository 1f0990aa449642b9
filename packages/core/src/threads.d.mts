export declare const BACKGROUND_NICE: number;
export declare function lowerPriority(tid: number): boolean;
export declare function lowerThisThread(): boolean;
export declare function favourEventLoop(): Promise<number>;
