throw new Error('module evaluation failed on purpose');
