import { scaleBench } from '/work/main/bench/cluster.ts';
console.log(JSON.stringify(await scaleBench({ pods: 5000, concurrency: 32, runSeconds: 120 }, console.error)));
