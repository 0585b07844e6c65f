/**
 * What every adapter configuration shares, with huggingface/peft's field names (camelCase here, snake_case in
 * `adapter_config.json`) and defaults, so a config written here reads the same in Python and back. Each
 * method's own fields and defaults are in its folder (lib/peft/<method>/config.ts).
 */

export type TaskType = "SEQ_CLS" | "FEATURE_EXTRACTION";

/** Fields every adapter method shares. */
export interface CommonConfig {
  /** Module names (list) or a full-match regular expression (string); see targets.ts. */
  targetModules: string[] | string;
  /** Modules trained and saved whole beside the adapter (e.g. the new classifier head). */
  modulesToSave: string[] | null;
  taskType: TaskType | null;
  baseModelNameOrPath: string | null;
  inferenceMode: boolean;
}

export const COMMON_DEFAULTS: CommonConfig = {
  targetModules: ["query", "value"],
  modulesToSave: null,
  taskType: null,
  baseModelNameOrPath: null,
  inferenceMode: false,
};

/** camelCase → snake_case ("loraAlpha" → "lora_alpha"). */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The config as peft's `adapter_config.json` object (snake_case keys, sorted). */
export function configToJson(config: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) out[snakeCase(k)] = v;
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
}

/** Reads the fields of `defaults` from a peft `adapter_config.json` object; other keys are ignored. */
export function configFromJson<C extends object>(json: Record<string, unknown>, defaults: C): C {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const key of Object.keys(defaults)) {
    const v = json[snakeCase(key)];
    if (v !== undefined) out[key] = v;
  }
  return out as C;
}
