import type { TaskRepository } from "../../ports/task-repository.js";
import { issueUrlSchema } from "../common.schema.js";
import { NotFoundError } from "../errors.js";
import { parseOrThrow } from "../validation.js";
import { newTaskSchema } from "./task.schema.js";
import type { Task, TaskRecord } from "./task.types.js";

/** Task use cases: validation in front of the task store. */
export function createTaskService({ tasks }: { tasks: TaskRepository }) {
  return {
    /** Creates the task once per issue URL; repeating it returns the stored task. */
    async create(input: unknown): Promise<{ task: Task; created: boolean }> {
      return tasks.createTask(parseOrThrow(newTaskSchema, input, "task"));
    },

    /** The task with its bids, award and ledger. */
    async get(taskId: unknown): Promise<TaskRecord> {
      const id = parseOrThrow(issueUrlSchema, taskId, "task id");
      const record = await tasks.getTaskRecord(id);
      if (!record) throw new NotFoundError("task", id);
      return record;
    },
  };
}

export type TaskService = ReturnType<typeof createTaskService>;
