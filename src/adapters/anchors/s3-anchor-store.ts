import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type PutObjectCommandOutput,
  S3Client,
} from "@aws-sdk/client-s3";
import { anchorFileName, parseAuditAnchor } from "../../domain/governance/audit-anchor.js";
import { AnchorExistsError, type AnchorStore } from "../../ports/audit-anchor.js";

/**
 * Anchors in an S3 bucket with Object Lock in compliance mode (created by the data stack): the
 * bucket's default retention locks every object version on write, so nobody — the root user
 * included — can delete or overwrite it before the retention ends. `PutObject` carries
 * `If-None-Match: *`, so a name is never written twice. Keys are `anchors/<name>` with names that
 * sort newest first, so `ListObjectsV2` with `MaxKeys: 1` finds the newest anchor. Loaded only on
 * AWS (a dynamic import), so the local stack never loads the S3 client.
 */

export const ANCHOR_PREFIX = "anchors/";

/** The part of the SDK's `S3Client` used here. */
export interface S3ClientLike {
  send(command: PutObjectCommand): Promise<PutObjectCommandOutput>;
  send(command: ListObjectsV2Command): Promise<ListObjectsV2CommandOutput>;
  send(command: GetObjectCommand): Promise<GetObjectCommandOutput>;
}

export interface S3AnchorStoreOptions {
  bucket: string;
  client?: S3ClientLike;
  region?: string;
}

export function createS3AnchorStore(options: S3AnchorStoreOptions): AnchorStore {
  const client: S3ClientLike =
    options.client ?? (new S3Client(options.region ? { region: options.region } : {}) as S3ClientLike);
  const { bucket } = options;
  return {
    location: `s3://${bucket}/${ANCHOR_PREFIX}`,
    async put(anchor) {
      const key = `${ANCHOR_PREFIX}${anchorFileName(anchor)}`;
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: `${JSON.stringify(anchor)}\n`,
            ContentType: "application/json",
            IfNoneMatch: "*",
            // Object Lock buckets require an integrity checksum on every write.
            ChecksumAlgorithm: "SHA256",
          }),
        );
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        // 412: the key exists; 409: a concurrent conditional write to it won.
        if (status === 412 || status === 409) throw new AnchorExistsError(key);
        throw error;
      }
    },
    async latest() {
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: ANCHOR_PREFIX, MaxKeys: 1 }),
      );
      const key = listed.Contents?.[0]?.Key;
      if (!key) return undefined;
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = await object.Body?.transformToString("utf8");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text ?? "");
      } catch {
        throw new Error(`The audit anchor s3://${bucket}/${key} is not JSON`);
      }
      return parseAuditAnchor(parsed, `s3://${bucket}/${key}`);
    },
  };
}
