/**
 * The KMS encryption context of every bid-secret data key. KMS binds it to the data key (Decrypt
 * needs the same context), and the functions' IAM grants require it, so their KMS permissions
 * cover this one use of the key and nothing else. Shared by the code and the CDK app.
 */
export const BID_SECRET_ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = {
  purpose: "agentforge-bid-secret",
};
