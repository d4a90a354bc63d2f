// Fallback Firestore emulator (npm @firestore-emulator/server) for machines without gcloud.
import { FirestoreServer } from "@firestore-emulator/server";

const port = Number(process.argv[2] || 8080);
const server = new FirestoreServer();
await server.start(port);
console.log(`firestore emulator (node) on 127.0.0.1:${port}`);
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
