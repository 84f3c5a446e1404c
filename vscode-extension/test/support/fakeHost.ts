/** A Host for core tests: records every approval request and answers from a script (default: yes). */
import type { ApprovalAnswer, ApprovalRequest, Diagnostic, Host } from "../../src/core/host.js";

export class FakeHost implements Host {
  readonly approvals: ApprovalRequest[] = [];
  answers: ApprovalAnswer[] = [];
  diagnosticsList: Diagnostic[] = [];

  constructor(readonly workspaceRoot: string) {}

  async approve(request: ApprovalRequest): Promise<ApprovalAnswer> {
    this.approvals.push(request);
    return this.answers.shift() ?? { approved: true };
  }

  async diagnostics(paths: readonly string[] | undefined): Promise<Diagnostic[]> {
    return paths ? this.diagnosticsList.filter((d) => paths.includes(d.path)) : this.diagnosticsList;
  }
}
