"""The Python API in a few lines: the symbolic engine, the checker, and (with weights) the model.

    python examples/solve_one.py                 # symbolic engine only
    python examples/solve_one.py ./phi4flash     # also ask the model (a checkpoint directory)
"""

import argparse

import phiflash


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Solve one problem with the symbolic engine, check two answers, "
                                                 "and with a checkpoint directory also ask the model.")
    parser.add_argument("model", nargs="?", help="a checkpoint directory (optional: the model is asked too)")
    parser.add_argument("--problem", default="3x^2+4x+5=1", help="the problem (default: %(default)s)")
    args = parser.parse_args(argv)
    problem = args.problem

    solution = phiflash.solve(problem)                       # SymPy, with steps, under a time limit
    for i, step in enumerate(solution.steps, 1):
        print(f"{i}. {step.text}")
    print("answer:", solution.answer_text)

    print(phiflash.check_answer("x = -2/3 ± 2√2 i/3", problem).status)   # verified for the default problem
    print(phiflash.check_answer("x = 2", problem).status)                # wrong for it

    if args.model:
        model = phiflash.load_model(args.model)
        tokenizer = phiflash.Tokenizer.from_dir(args.model)
        messages = [{"role": "user", "content": f"Please reason step by step, and put your final answer within "
                                                f"\\boxed{{}}. {problem}"}]
        show = lambda e: print(e.text, end="", flush=True) if e.kind == "text" else None  # noqa: E731
        reply = phiflash.generate(model, [messages], max_new_tokens=2048, tokenizer=tokenizer,
                                  speculate=True).run(show)[0]
        answer = phiflash.extract_answer(reply.answer or reply.text)
        print("\nmodel answer:", answer, "->", phiflash.check_answer(answer or "", problem).status)


if __name__ == "__main__":
    main()
