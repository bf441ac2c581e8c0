"""The Python API in a few lines: the symbolic engine, the checker, and (with weights) the model.

    python examples/solve_one.py                 # symbolic engine only
    python examples/solve_one.py ./phi4flash     # also ask the model (a checkpoint directory)
"""

import sys

import phiflash

problem = "3x^2+4x+5=1"

solution = phiflash.solve(problem)                       # SymPy, with steps, under a time limit
for i, step in enumerate(solution.steps, 1):
    print(f"{i}. {step.text}")
print("answer:", solution.answer_text)

print(phiflash.check_answer("x = -2/3 ± 2√2 i/3", problem).status)   # verified
print(phiflash.check_answer("x = 2", problem).status)                # wrong

if len(sys.argv) > 1:
    model = phiflash.load_model(sys.argv[1])
    tokenizer = phiflash.Tokenizer.from_dir(sys.argv[1])
    messages = [{"role": "user", "content": f"Please reason step by step, and put your final answer within "
                                            f"\\boxed{{}}. {problem}"}]
    reply = phiflash.complete(model, tokenizer, messages, max_new_tokens=2048,
                              on_event=lambda kind, text: print(text, end="", flush=True))
    answer = phiflash.extract_answer(reply.answer or reply.text)
    print("\nmodel answer:", answer, "->", phiflash.check_answer(answer or "", problem).status)
