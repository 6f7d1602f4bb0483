import type { z } from 'zod';
import type { ConfigIssue } from './issues.js';
import { splitProblem } from './schema-kit.js';
import type { YamlSource } from './yaml-source.js';

/**
 * Turns zod's issues into ConfigIssues that point at the YAML line of each value.
 * Messages from our schema blocks carry their own fix; zod's own messages (a block that
 * forgot one) get a generic fix rather than none.
 */
export function toConfigIssues(issues: readonly z.core.$ZodIssue[], source: YamlSource): ConfigIssue[] {
  return issues.map((issue) => {
    const { message, fix } = splitProblem(issue.message);
    return source.issue(
      issue.path,
      fix === undefined ? lowerFirst(message) : message,
      fix ?? 'correct the value; docs/configuration.md lists what each key accepts',
    );
  });
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
