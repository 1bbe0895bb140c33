#pragma once
// Exception boundaries: errors travel as Result/Status, but a bug or a library that throws
// (boost::json accessors, std::bad_alloc) must not cross a handler entry point and take the
// process down through std::terminate. Each entry point catches everything, logs it with
// this text and answers as its protocol allows.
#include <chrono>
#include <exception>
#include <string>
#include <thread>

namespace ablo {

// What the exception being handled says. Call only inside a catch block.
inline std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "a non-standard exception";
  }
}

// A thread's exception boundary: runs `loop` (its main loop, which returns when the thread
// should end) and, should an exception escape it, reports the text and runs it again after a
// short pause. A background thread must not die of one (std::terminate) nor stop quietly.
template <class Loop, class Report>
void run_restarting(Loop&& loop, Report&& report) {
  while (true) {
    try {
      loop();
      return;
    } catch (...) {
      report(current_exception_text());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace ablo
